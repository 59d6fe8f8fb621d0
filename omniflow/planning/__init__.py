"""Planning: what a run would do, and why, with no network.

``plan`` (states and reasons per step), ``cost`` (the one price of a
rendered request), ``diff`` (plan against a commit), ``index`` (the cheap
lookups that keep planning fast at 10,000 steps).
"""
