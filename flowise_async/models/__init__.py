"""
Request and response values of the Flowise API, as frozen attrs classes.

Every class keeps the fields the server sends that this version does not know in ``extra``.
"""

from ._api_keys import ApiKey
from ._assistants import Assistant
from ._attachments import Attachment
from ._chat_messages import ChatMessage
from ._chatflows import Chatflow, UploadsConfig, UploadSizeAndType
from ._common import DeleteResult, Page, UpsertResult
from ._credentials import Credential
from ._document_store import (
    Chunk,
    ChunkPage,
    ComponentNode,
    DocumentStore,
    DocumentStoreLoader,
    LoaderPreview,
    QueryResult,
    StoreDocument,
)
from ._executions import Execution, ExecutionState
from ._feedback import Feedback
from ._leads import Lead
from ._prediction import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Prediction,
    RunStatus,
    Usage,
    UsedTool,
)
from ._request import HumanInput, Message, Upload
from ._tools import Tool
from ._upsert_history import UpsertRecord
from ._variables import Variable


__all__ = [
    "Action",
    "AgentReasoning",
    "ApiKey",
    "Artifact",
    "Assistant",
    "Attachment",
    "ChatMessage",
    "Chatflow",
    "Chunk",
    "ChunkPage",
    "ComponentNode",
    "Credential",
    "DeleteResult",
    "Document",
    "DocumentStore",
    "DocumentStoreLoader",
    "ExecutedNode",
    "Execution",
    "ExecutionState",
    "Feedback",
    "FileAnnotation",
    "HumanInput",
    "Lead",
    "LoaderPreview",
    "Message",
    "Page",
    "Prediction",
    "QueryResult",
    "RunStatus",
    "StoreDocument",
    "Tool",
    "Upload",
    "UploadSizeAndType",
    "UploadsConfig",
    "UpsertRecord",
    "UpsertResult",
    "Usage",
    "UsedTool",
    "Variable",
]
