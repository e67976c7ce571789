"""Browser fixtures; they live in browser_support.py so tests can import its helpers by a unique name."""
from browser_support import *
