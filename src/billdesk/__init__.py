"""billdesk: the support desk of a hosting provider, with free quotas and paid tickets."""

__version__ = "0.1.0"
