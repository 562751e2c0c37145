from . import mrp_backflush_analysis
