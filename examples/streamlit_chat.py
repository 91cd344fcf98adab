"""
A Streamlit chat page on a Flowise chatflow, with the synchronous client.

Run it with ``streamlit run examples/streamlit_chat.py`` (Streamlit installed), with
``FLOWISE_BASE_URL``, ``FLOWISE_API_KEY`` and ``FLOWISE_CHATFLOW_ID`` in the environment.
The answer streams into the page as it arrives (``st.write_stream``); one client, kept by
``st.cache_resource``, serves every session of the server process.
"""

from __future__ import annotations

import os

import streamlit as st

from flowise_async import SyncFlowise


@st.cache_resource
def flowise() -> SyncFlowise:
    """One client for the whole server process (its pool is shared by every session)."""
    return SyncFlowise()  # FLOWISE_BASE_URL and FLOWISE_API_KEY from the environment


CHATFLOW_ID = os.environ.get("FLOWISE_CHATFLOW_ID", "")

st.title("Ask the flow")
if "chat_id" not in st.session_state:
    st.session_state.chat_id = None
    st.session_state.history = []

for role, text in st.session_state.history:
    st.chat_message(role).write(text)

if question := st.chat_input("Your question"):
    st.chat_message("user").write(question)
    with st.chat_message("assistant"):
        stream = flowise().predictions.stream(
            CHATFLOW_ID, question, chat_id=st.session_state.chat_id, abort_on_exit=True
        )
        # Leaving the block (the answer is complete, or Streamlit stops the script) closes
        # the response; a run left unfinished is aborted on the server.
        with stream:
            answer = st.write_stream(stream.text_stream())
    st.session_state.chat_id = stream.chat_id
    st.session_state.history += [("user", question), ("assistant", answer)]
