"""Census: places, households, residents, enterprises and organisations of a community (底数)."""
