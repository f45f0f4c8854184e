"""Windows event log: parse rendered event XML, map it to rule records, read it live or offline.

The parsing and mapping are pure and run anywhere; only ``agent.platform.windows_events``
touches the Windows Event Log API.
"""

from agent.winevent.xml import EventXmlError, WinEvent, parse_event_xml

__all__ = ["EventXmlError", "WinEvent", "parse_event_xml"]
