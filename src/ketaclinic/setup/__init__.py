"""Setting up a clinic in the browser: the checklist, the floor, staff and the clinic's profile.

Not a Django app (no models): it is the top layer over accounts, scheduling, inventory
and screening, whose services do the writes. Pages and their /api/v1/ twins call the
same service functions.
"""
