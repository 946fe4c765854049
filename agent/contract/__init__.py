"""The public contract between the agent and the collector.

Both programs import this package and it imports neither, so a router
installs it with the agent and the collector needs nothing else of the
agent's: the wire format (``wire``), the reading (``reading``), the
measurement vocabulary (``measurements``), school types (``schools``), the
typed config machinery (``configschema``) with the shared ``[mqtt]`` keys
(``mqttconfig``), command-line start-up (``cli``) and the one root exception
(``errors``). It lives inside ``agent/`` because the agent is the part that
must run alone on a router: the bare install is this package.
"""

__version__ = "0.1.0"
