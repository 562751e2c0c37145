from . import mrp_backflush_preview
from . import mrp_backflush_preview_line
from . import mrp_backflush_exception_cancel
from . import mrp_backflush_exception_serials
from . import mrp_bom_backflush_advice
from . import mrp_bom_backflush_advice_line
from . import mrp_backflush_correction
from . import mrp_backflush_correction_line
