"""Automation rules on channels: thresholds with hysteresis, no-data watches, math expressions and PID
controllers, whose actions queue TalkBack commands, write to channels, alert the owner or call webhooks."""
