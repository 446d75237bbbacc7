"""One module per remote system; all speak the Connector interface of base.py."""
