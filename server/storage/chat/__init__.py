"""Chat storage, one module per concern: chats, members, messages, the batch writer's sends, invites, blocks,
reports and settings; records.py holds what they read and write. Each change's events go to the users' logs
(server/storage/events.py) in the same transaction."""
