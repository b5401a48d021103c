"""The framed protocol spoken with microcontroller sensor hubs whose firmware we control."""
