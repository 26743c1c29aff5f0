"""RadiView: a chest X-ray viewer with an AI second reader.

Research software, not a medical device: not for diagnosis.
"""

__version__ = "0.2.0"

RESEARCH_NOTICE = "Research software, not a medical device. Not for diagnosis or clinical decisions."
