"""Every model family; importing this package runs their ``@register_model`` decorators."""

from . import lenet  # noqa: F401
from .network import Network

__all__ = ["Network"]
from . import resnet  # noqa: F401,E402
from . import densenet  # noqa: F401,E402
from . import googlenet  # noqa: F401,E402
from . import vgg  # noqa: F401,E402
from . import alexnet  # noqa: F401,E402
from . import small  # noqa: F401,E402
