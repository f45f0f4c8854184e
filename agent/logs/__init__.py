"""Reading IIS and Exchange logs: formats, line parsers, exact tailing, locations."""
