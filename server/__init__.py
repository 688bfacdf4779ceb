"""A realtime server: chat, calls and IoT feeds in one aiohttp process."""
