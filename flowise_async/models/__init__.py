"""
Request and response values of the Flowise API, as frozen attrs classes.

Every class keeps the fields the server sends that this version does not know in ``extra``.
"""

from ._chatflows import Chatflow
from ._prediction import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Prediction,
    Usage,
    UsedTool,
)
from ._request import HumanInput, Message, Upload


__all__ = [
    "Action",
    "AgentReasoning",
    "Artifact",
    "Chatflow",
    "Document",
    "ExecutedNode",
    "FileAnnotation",
    "HumanInput",
    "Message",
    "Prediction",
    "Upload",
    "Usage",
    "UsedTool",
]
