"""LangChain (`langchain_core`): a callback handler metering tools and chat models.

    handler = TollgateCallbackHandler(gate, "team/support-agent", tool_price={"search": 20_000},
                                      model_price=100_000, price_by_model=True)
    chain.invoke(..., config={"callbacks": [handler]})

A start holds (a refusal is raised into the call: raise_error), an end commits the
actual cost (tokens at the model's configured price, or cost_of(usage)), an error
releases. Written against langchain_core's BaseCallbackHandler; tested with a small
stand-in of it, as the package is not installed on the test machine.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

from ..hold import Hold, reported_cost

try:
    from langchain_core.callbacks import BaseCallbackHandler as _Base
except ImportError:
    _Base = object


class TollgateCallbackHandler(_Base):
    raise_error = True
    run_inline = True

    def __init__(self, gate, budget: Optional[str] = None, tool_price: Union[int, Dict[str, int]] = 0,
                 model_price: int = 0, price_by_model: bool = False,
                 cost_of: Optional[Callable[[dict], int]] = None, cls: Optional[str] = None):
        if _Base is not object:
            super().__init__()
        self.gate = gate
        self.budget = budget or gate.budget
        self.tool_price, self.model_price = tool_price, model_price
        self.price_by_model, self.cost_of, self.cls = price_by_model, cost_of, cls
        self.holds: Dict[Any, Hold] = {}

    def _open(self, run_id, **fields) -> None:
        hold = Hold(self.gate, self.budget, cls=self.cls, **fields)
        hold.open()
        self.holds[run_id] = hold

    def on_tool_start(self, serialized: Dict[str, Any], input_str: str, *, run_id, **kwargs: Any) -> None:
        name = (serialized or {}).get("name") or kwargs.get("name") or "tool"
        price = self.tool_price
        amount = price.get(name, price.get("*", 0)) if isinstance(price, dict) else price
        self._open(run_id, amount_micros=amount, tool=name)

    def on_tool_end(self, output: Any, *, run_id, **kwargs: Any) -> None:
        hold = self.holds.pop(run_id, None)
        if hold is None:
            return
        cost = reported_cost(getattr(output, "artifact", None) or output)
        if cost is not None:
            hold.actual_micros = cost
        hold.commit()

    def on_tool_error(self, error: BaseException, *, run_id, **kwargs: Any) -> None:
        hold = self.holds.pop(run_id, None)
        if hold is not None:
            hold.release()

    def on_chat_model_start(self, serialized: Dict[str, Any], messages: Any, *, run_id, **kwargs: Any) -> None:
        params = kwargs.get("invocation_params") or {}
        meta = kwargs.get("metadata") or {}
        model = meta.get("ls_model_name") or params.get("model") or params.get("model_name")
        self._open(run_id, amount_micros=self.model_price, model=model)

    on_llm_start = on_chat_model_start

    def on_llm_end(self, response: Any, *, run_id, **kwargs: Any) -> None:
        hold = self.holds.pop(run_id, None)
        if hold is None:
            return
        usage = None
        try:
            usage = response.generations[0][0].message.usage_metadata
        except (AttributeError, IndexError, TypeError):
            pass
        if not usage:
            token_usage = (getattr(response, "llm_output", None) or {}).get("token_usage") or {}
            usage = {"input_tokens": token_usage.get("prompt_tokens"), "output_tokens": token_usage.get("completion_tokens")}
        hold.tokens_in, hold.tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if self.cost_of is not None:
            hold.actual_micros = self.cost_of({"input": hold.tokens_in, "output": hold.tokens_out, "model": hold.model})
            hold.commit()
        elif self.price_by_model and hold.model and hold.tokens_in is not None:
            hold.commit(model=hold.model)
        else:
            hold.commit()

    def on_llm_error(self, error: BaseException, *, run_id, **kwargs: Any) -> None:
        hold = self.holds.pop(run_id, None)
        if hold is not None:
            hold.release()
