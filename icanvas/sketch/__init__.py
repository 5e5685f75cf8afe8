"""Closing the gap between training edges and what children draw, from both sides: reading a hand drawing
(normalize), making training sketches look drawn (augment), and what they share (lines)."""
