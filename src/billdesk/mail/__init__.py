"""Mail both ways (docs/mail.md).

- compose: subjects, templates/mail/, headers (threading, Auto-Submitted);
- smtp: BILLDESK_SMTP_URL and one send through aiosmtplib;
- outgoing: the log of every mail, and the `mail.send` job that sends it;
- preferences: which mails each person wants;
- notify: the outbox subscriber that decides who gets which mail;
- parsing, routing, inbound: reading a mail, where it goes, and the one ticket call it makes (`receive`);
- imap: the worker's poller of BILLDESK_IMAP_URL;
- catcher: the local SMTP server of the offline demo.
"""
