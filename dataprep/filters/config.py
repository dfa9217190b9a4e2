"""The filter chain's configuration: one YAML selects the filters, their order and their thresholds per language.

```yaml
filters:                       # applied in this order; a filter not listed does not run
  - url: {blocklist_file: my-domains.txt}
  - language: {keep: [zh, en]}
  - gopher_quality:
      thresholds:              # per language family code, plus `default` for every other language
        zh: {min_doc_words: 30}
        default: null          # null: the filter is off for these languages
```

A user's file names only what it changes: each entry is merged onto the shipped defaults (dataprep/filters/
default.yaml, which says where every value comes from) or, for a language section the defaults lack, onto the
filter's own defaults (the published English values). Every problem is one line naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError

from dataprep.errors import UsageError, UserError
from dataprep.filters.base import Options, Params, Stage
from dataprep.filters.registry import STAGES

LANG_KEY = re.compile(r"^(default|[a-z]{2,3})$")
DEFAULT_CONFIG = "default.yaml"


@dataclass
class StageConfig:
    name: str
    options: Options
    thresholds: dict[str, Optional[Params]]

    @property
    def cls(self) -> type[Stage]:
        return STAGES[self.name]

    def build(self) -> Stage:
        return self.cls(self.options, self.thresholds if self.cls.per_language else None)

    def to_data(self) -> dict[str, Any]:
        body = self.options.model_dump(mode="json")
        if self.cls.per_language:
            body["thresholds"] = {lang: None if p is None else p.model_dump(mode="json")
                                  for lang, p in self.thresholds.items()}
        return {self.name: body}


@dataclass
class FilterConfig:
    stages: list[StageConfig]

    def to_data(self) -> dict[str, Any]:
        return {"filters": [stage.to_data() for stage in self.stages]}

    def to_yaml(self) -> str:
        header = ("# dataprep filter configuration (resolved). Where each default comes from: "
                  "dataprep/filters/default.yaml\n")
        return header + yaml.safe_dump(self.to_data(), sort_keys=False, allow_unicode=True, width=120)

    def stage(self, name: str) -> Optional[StageConfig]:
        return next((s for s in self.stages if s.name == name), None)


def default_config() -> FilterConfig:
    text = (resources.files("dataprep.filters") / DEFAULT_CONFIG).read_text("utf-8")
    return parse_config(yaml.safe_load(text), f"dataprep/filters/{DEFAULT_CONFIG}", base=None)


def load_filter_config(path: Optional[str] = None, url_blocklist: Optional[str] = None) -> FilterConfig:
    """The defaults, overridden by the YAML file at `path`; `url_blocklist` sets the url filter's blocklist_file."""
    config = default_config()
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise UserError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        config = parse_config(data if data is not None else {}, path, base=config)
    if url_blocklist is not None:
        url = config.stage("url")
        if url is None:
            raise UsageError("--url-blocklist needs the `url` filter, which the configuration leaves out")
        url.options = url.options.model_copy(update={"blocklist_file": url_blocklist})
    return config


def parse_config(data: Any, source: str, base: Optional[FilterConfig]) -> FilterConfig:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: the top level must be a mapping with `filters`")
    unknown = set(data) - {"filters"}
    if unknown:
        raise UsageError(f"{source}: {sorted(unknown)[0]}: unknown key (expected `filters`)")
    if "filters" not in data:
        if base is None:
            raise UsageError(f"{source}: filters: missing")
        return base
    items = data["filters"]
    if not isinstance(items, list):
        raise UsageError(f"{source}: filters: must be a list like [{{language: {{keep: [zh, en]}}}}, gopher_quality]")
    stages: list[StageConfig] = []
    for i, item in enumerate(items):
        where = f"{source}: filters[{i}]"
        if isinstance(item, str):
            item = {item: None}
        if not isinstance(item, dict) or len(item) != 1:
            raise UsageError(f"{where}: must be a filter name or a mapping with exactly one filter name")
        (name, settings), = item.items()
        if name not in STAGES:
            raise UsageError(f"{where}: unknown filter {name!r}; known: {', '.join(STAGES)}")
        if any(s.name == name for s in stages):
            raise UsageError(f"{where}: filter {name!r} is listed twice")
        stages.append(_stage(name, settings, base.stage(name) if base else None, f"{where}.{name}"))
    return FilterConfig(stages)


def _stage(name: str, settings: Any, base: Optional[StageConfig], where: str) -> StageConfig:
    cls = STAGES[name]
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise UsageError(f"{where}: must be a mapping of options (or empty)")
    settings = dict(settings)
    thresholds_in = settings.pop("thresholds", None)
    options_base = base.options.model_dump() if base else {}
    options = _validate(cls.Options, {**options_base, **settings}, where)
    thresholds = dict(base.thresholds) if base else ({"default": cls.Params()} if cls.per_language else {})
    if thresholds_in is not None:
        if not cls.per_language:
            raise UsageError(f"{where}.thresholds: filter {name!r} has no per-language thresholds")
        if not isinstance(thresholds_in, dict):
            raise UsageError(f"{where}.thresholds: must map language codes (or `default`) to thresholds")
        for lang, section in thresholds_in.items():
            lang = str(lang)
            if not LANG_KEY.match(lang):
                raise UsageError(f"{where}.thresholds.{lang}: not a language code (2-3 lower-case letters) or `default`")
            if section is None:
                thresholds[lang] = None
                continue
            if not isinstance(section, dict):
                raise UsageError(f"{where}.thresholds.{lang}: must be a mapping of thresholds, or null to turn off")
            previous = thresholds.get(lang)
            start = previous.model_dump() if previous is not None else cls.Params().model_dump()
            thresholds[lang] = _validate(cls.Params, {**start, **section}, f"{where}.thresholds.{lang}")
    return StageConfig(name, options, thresholds)


def _validate(model: type[BaseModel], data: dict, where: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        message = err["msg"].replace("Extra inputs are not permitted", "unknown key")
        raise UsageError(f"{where}.{key}: {message}" if key else f"{where}: {message}") from None
