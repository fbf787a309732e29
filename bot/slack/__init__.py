"""The Slack face: the Bolt app, Block Kit, listeners."""
