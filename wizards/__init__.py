from . import mrp_backflush_preview
from . import mrp_backflush_preview_line
from . import mrp_backflush_exception_cancel
