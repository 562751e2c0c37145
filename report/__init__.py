from . import mrp_backflush_analysis
from . import mrp_backflush_count_variance
