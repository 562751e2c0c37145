# Odoo's own test runner imports these; pytest-odoo collects the files.
from . import test_access
from . import test_advice
from . import test_analysis
from . import test_audit_lines
from . import test_bad_input
from . import test_concurrency
from . import test_correction
from . import test_lots
from . import test_mark_done
from . import test_operation
from . import test_preview
from . import test_scrap
from . import test_shortage
from . import test_substitute
from . import test_tour
