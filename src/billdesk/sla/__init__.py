"""Service levels: business hours, targets and each ticket's clock (docs/sla.md).

- hours: business hours and business-time arithmetic (pure);
- policy: a department's service level, read and set;
- timers: each ticket's clock and deadlines, moved by the ticket's history;
- escalation: the periodic job that tells people about tickets at risk or breached;
- automation: auto-close of tickets left waiting for the customer;
- satisfaction: ratings of solved tickets;
- reports: the support reports.
"""
