"""A technical-assistant chat: a few-shot dialogue prompt and a multi-turn conversation.

In the spirit of StarCoder's Tech Assistant Prompt (a base model becomes a helpful assistant
when shown a few exchanges between a person and an assistant); the dialogue below is our own.
Each answer ends where the model starts the next human turn.
"""

from __future__ import annotations

import dataclasses

from starjax.infer.generator import Generator
from starjax.infer.sampling import SamplingConfig
from starjax.tokens import ENDOFTEXT

HUMAN, ASSISTANT, SEPARATOR = "Human:", "Assistant:", "-----"

TECH_ASSISTANT_PROMPT = f"""Below are conversations between a person and a programming \
assistant. The assistant is helpful, honest and careful: it answers questions about code, \
explains its reasoning briefly, writes correct and idiomatic code, says when it is unsure or \
when a question has no good answer, and points out bugs or risks it notices. It does not \
pretend to have run code it has not run.

{SEPARATOR}

{HUMAN} How do I reverse a list in Python without modifying the original?

{ASSISTANT} Use slicing, which returns a new list:

```python
items = [1, 2, 3]
reversed_items = items[::-1]   # [3, 2, 1]; items is unchanged
```

`list(reversed(items))` does the same. `items.reverse()` would reverse in place instead.

{HUMAN} And for a string?

{ASSISTANT} Slicing works the same way on strings: `"abc"[::-1]` gives `"cba"`. Strings are \
immutable, so there is no in-place version.

{SEPARATOR}

{HUMAN} My JavaScript loop prints 3 three times: `for (var i = 0; i < 3; i++) \
setTimeout(() => console.log(i), 0);` Why?

{ASSISTANT} `var` is function-scoped, so all three callbacks share one `i`, and by the time \
they run the loop has finished and `i` is 3. Declare it with `let`, which creates a new \
binding for each iteration:

```javascript
for (let i = 0; i < 3; i++) setTimeout(() => console.log(i), 0);  // 0, 1, 2
```

{SEPARATOR}

{HUMAN} Write a C function that returns the length of a NUL-terminated string.

{ASSISTANT} Here is a straightforward version; it assumes `s` is not NULL.

```c
#include <stddef.h>

size_t string_length(const char *s) {{
    const char *p = s;
    while (*p != '\\0') {{
        p++;
    }}
    return (size_t)(p - s);
}}
```

In real code prefer the standard `strlen` from `<string.h>`, which is usually faster.

{HUMAN} Can it handle a NULL pointer?

{ASSISTANT} No: dereferencing NULL is undefined behaviour. If NULL is possible, check first, \
for example `if (s == NULL) return 0;`, and document what the function returns in that case.

{SEPARATOR}
"""

STOP_STRINGS = (f"\n{HUMAN}", f"\n{SEPARATOR}", ENDOFTEXT)


@dataclasses.dataclass
class Conversation:
  """One chat: the few-shot prompt followed by the turns so far."""
  generator: Generator
  sampling: SamplingConfig = dataclasses.field(
      default_factory=lambda: SamplingConfig(temperature=0.2, top_p=0.95, max_new_tokens=256))
  system_prompt: str = TECH_ASSISTANT_PROMPT
  turns: list[tuple[str, str]] = dataclasses.field(default_factory=list)

  def prompt(self, message: str) -> str:
    """The text the model continues: system prompt, earlier turns, the new message and the
    assistant tag. When that exceeds the context, few-shot examples go first (last first),
    then the introduction, then the oldest turns; the new message always stays."""
    limit = self.generator.tokens.config.max_seq_len - self.sampling.max_new_tokens
    blocks = self.system_prompt.split(f"{SEPARATOR}\n")
    intro, examples = blocks[0], blocks[1:]
    turns = list(self.turns)
    while True:
      system = intro + "".join(f"{SEPARATOR}\n{e}" for e in examples) if intro else ""
      history = "".join(f"\n{HUMAN} {h}\n\n{ASSISTANT} {a}\n" for h, a in turns)
      text = f"{system}{history}\n{HUMAN} {message}\n\n{ASSISTANT}"
      if len(self.generator.encode(text)) <= limit:
        return text
      if examples:
        examples.pop()
      elif intro:
        intro = ""
      elif turns:
        turns.pop(0)
      else:
        raise ValueError(
            f"the message alone ({len(self.generator.encode(text))} tokens with the chat tags) "
            f"does not fit the model's context of {limit + self.sampling.max_new_tokens} "
            f"minus max_new_tokens={self.sampling.max_new_tokens}; shorten it")

  def ask(self, message: str) -> str:
    """The assistant's answer to `message`; the exchange is added to the conversation."""
    message = message.strip()
    if not message:
      raise ValueError("empty message")
    sampling = dataclasses.replace(self.sampling, num_samples=1,
                                   stop=tuple(self.sampling.stop) + STOP_STRINGS)
    answer = self.generator.complete([self.prompt(message)], sampling)[0].text.strip()
    self.turns.append((message, answer))
    return answer
