"""The notifications context: who is told of the vulnerability SLA's events, and how.

It listens to the policy context's events (``subscribers.py``) and imports no other
context's services; ``preferences.py`` decides who hears (organisation members by role,
customers who pulled an affected image), ``texts.py`` words each notice (a customer's
never names a vulnerability or package), ``services.py`` records one ``Notification``
per recipient, channel and event (unique on its key, so an event delivered twice is sent
once) and sends it: mail at once or in the daily digest, or a webhook.

Webhooks
--------
Each delivery is an HTTP ``POST`` of a JSON document::

    {"id": "<uuid>", "type": "policy:clock:started", "created_at": "<ISO 8601>",
     "data": {...the event's payload...}}

with these headers:

``Portside-Event``
    the event's name (also ``type`` in the body);
``Portside-Delivery``
    the notice's id (also ``id``), the same on every retry: receivers use it to ignore
    a delivery they already handled;
``Portside-Signature``
    ``t=TIMESTAMP,v1=HEX``: ``TIMESTAMP`` is the Unix time of this try, and ``HEX`` the
    lowercase hex HMAC-SHA256, keyed with the endpoint's secret (the whole ``whsec_...``
    string, as UTF-8), of ``TIMESTAMP`` in decimal, a full stop, and the raw body bytes.

A receiver recomputes the HMAC over the body exactly as received, compares it in constant
time, and refuses a timestamp more than a few minutes old (a replayed request). Any answer
other than 2xx within ``PORTSIDE_WEBHOOK_TIMEOUT`` seconds is a failure, redirects
included (they are not followed); failed tries are repeated after 1, 5 and 30 minutes,
2 hours, then every 6 hours, up to ``PORTSIDE_NOTIFICATION_ATTEMPTS`` tries. URLs whose
host resolves to a non-public address are refused unless
``PORTSIDE_WEBHOOK_ALLOW_PRIVATE`` is on (see ``webhooks.py``).
"""
