"""vsr: real-time video super-resolution on the luma channel."""
