"""icanvas: turn children's sketches into pictures with pix2pix, from data to a drawing-app service."""

__version__ = "0.1.0"
