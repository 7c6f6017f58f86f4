# visitor_c is visitor_py compiled (see visitor_c.pxd): the same names.
from .visitor_py import DURATION_BUCKETS as DURATION_BUCKETS
from .visitor_py import LINGER as LINGER
from .visitor_py import MAX_HEAD as MAX_HEAD
from .visitor_py import MAX_PIPELINE as MAX_PIPELINE
from .visitor_py import RECORDS_MESSAGE_MAX as RECORDS_MESSAGE_MAX
from .visitor_py import SCRATCH_SIZE as SCRATCH_SIZE
from .visitor_py import Exchange as Exchange
from .visitor_py import FrontCore as FrontCore
from .visitor_py import HttpRoute as HttpRoute
from .visitor_py import VisitorCore as VisitorCore
from .visitor_py import record_messages as record_messages
