"""The Grid node of one worker host, asked of the hub (selenium-hub:4444).

argv: ACTION ADDRESS; ACTION is `show` (print the node's id, availability
and running sessions as JSON; id null when no node has that address) or
`drain` (the distributor sends the node no new session; the node ends
itself when its running sessions have ended)."""

import json
import sys
import urllib.parse
import urllib.request

HUB = "http://selenium-hub:4444"
action, address = sys.argv[1], sys.argv[2]
# The hub's fixed http address (no user input in the URL): S310 is moot.
status = json.load(urllib.request.urlopen(HUB + "/status", timeout=10))["value"]  # noqa: S310
node = next(
    (n for n in status.get("nodes", []) if urllib.parse.urlsplit(n["uri"]).hostname == address),
    None,
)
if node is None:
    print(json.dumps({"id": None, "availability": None, "sessions": 0}))
    sys.exit(0)
sessions = sum(1 for slot in node.get("slots", []) if slot.get("session"))
if action == "drain" and node.get("availability") != "DRAINING":
    request = urllib.request.Request(  # noqa: S310
        f"{HUB}/se/grid/distributor/node/{node['id']}/drain",
        method="POST",
        headers={"X-REGISTRATION-SECRET": ""},
    )
    urllib.request.urlopen(request, timeout=10)  # noqa: S310
    node["availability"] = "DRAINING"
print(json.dumps({"id": node["id"], "availability": node["availability"], "sessions": sessions}))
