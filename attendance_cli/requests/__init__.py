"""Absence and leave requests: read them (`read`), route each by the policy with the figures a person
deciding needs (`triage`), and record decisions and write their letters (`decisions`)."""
