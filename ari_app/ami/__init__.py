"""The Asterisk Manager Interface, through panoramisk: live PBX status, hang-ups, originate."""
