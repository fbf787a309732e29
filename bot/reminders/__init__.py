"""The reminder face: composing and sending reminders, and the scheduler that times them."""
