"""Boilerplate rules applied to extracted text line by line, and the page regions an extractor should skip.

Main-text extractors keep whole blocks; what leaks through are short lines of site furniture: breadcrumbs
(`首页 > 新闻`), previous/next links (`上一篇：...`), copyright and registration footers, ad labels, image
credits, share/subscribe/QR-code prompts, widget labels (`收藏`, `评论（0）`), and the page's tail after the
article (related headlines, rankings, comment boxes). Each rule is one named predicate on a line, so a rule
is easy to read, test and switch off; none of them fires on a long line, which is prose.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Iterable, NamedTuple, Optional

# Page regions that hold no main text on any site, named by the words of their tag, class, id or role
# (conventions shared by WordPress, Ghost, Drupal and Chinese news CMS themes). A class matches by whole word
# (`site-footer`, `share_buttons`), never by substring (`promoted`, `popular`), and an element holding the
# article's title or body (REGION_KEEP) is a wrapper, never removed. Layout words (`sidebar`, which themes
# put on the wrapper as `with-sidebar-right`) and byline words (`author`) are not region words.
REGION_TAGS = {"nav", "aside", "footer", "form"}
REGION_ROLES = {"navigation", "complementary", "contentinfo"}
REGION_WORDS = {
    "footer", "breadcrumb", "breadcrumbs", "crumb", "crumbs", "related", "recommend", "recommended", "share",
    "sharing", "social", "newsletter", "subscribe", "subscription", "signup", "cta", "advert", "advertisement",
    "ad", "ads", "sponsor", "sponsored", "promo", "bio", "respond", "pagination", "pager", "cookie", "cookies",
    "popup", "comments",
}
REGION_KEEP = "h1, article, main, [itemprop=articleBody]"
# A CSS pre-filter for candidate regions: the word as a whole class token, or delimited by - or _ inside one
# (few candidates, so little Python per page); `region_words` then confirms by whole words.
REGION_CANDIDATES = ", ".join(
    sorted(REGION_TAGS) + [f"[role={r}]" for r in sorted(REGION_ROLES)]
    + [f"[class~={w}], [id={w}], [class*=-{w}], [class*={w}-], [class*=_{w}], [class*={w}_], [id*=-{w}], [id*={w}-]"
       for w in sorted(REGION_WORDS)]
)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def region_words(tag: str, class_: str, id_: str, role: str) -> bool:
    """Whether an element's tag, role or class/id words name a boilerplate region."""
    if tag in REGION_TAGS or role in REGION_ROLES:
        return True
    return bool(REGION_WORDS.intersection(_WORD_SPLIT.split(f"{class_} {id_}".lower())))


NAV_PHRASES = (
    "首页", "网站地图", "上一篇", "下一篇", "上一页", "下一页", "返回顶部", "关于我们", "联系我们", "免责声明",
    "加入收藏", "您所在的位置", "当前位置", "分享到",
    "back to top", "skip to content", "skip to main content", "previous post", "next post", "sitemap",
)
FOOTER_MARKS = (
    "©", "copyright", "all rights reserved", "版权所有", "版权声明", "icp备", "icp证", "许可证", "举报",
    "违法和不良信息", "公网安备", "意见反馈", "powered by",
)
AD_LABELS = {"advertisement", "advertisements", "advertising", "sponsored", "sponsored content", "ad", "ads",
             "广告", "推广", "赞助"}
WIDGET_LABELS = {  # whole lines that are buttons or counters, not text
    "收藏", "收藏本文", "评论", "分享", "字号", "打印", "推荐", "点赞", "我要跟帖", "正在加载", "加载更多",
    "不感兴趣", "已显示全部内容", "无障碍说明", "站内", "更多", "微博", "微信", "qzone", "图集", "关注新华网",
    "comments", "comment", "share", "print", "reply", "load more", "more", "like", "tweet", "email",
}
RELATED_HEADINGS = (
    "相关阅读", "相关文章", "相关新闻", "相关推荐", "相关内容", "相关搜索", "推荐阅读", "延伸阅读", "热门推荐",
    "热门文章", "热门搜索", "猜你喜欢", "为你推荐", "为您推荐", "精彩推荐", "点击排行", "排行榜", "热新闻", "热话题",
    "related posts", "related articles", "related stories", "related content", "you may also like",
    "you might also like", "recommended for you", "more from", "read next", "most popular", "trending now",
)
END_MARKERS = ("正文已结束", "责任编辑", "责编:", "(责编", "打印本页", "关闭窗口")  # the article's last line in Chinese news
PROMPTS = (
    "subscribe", "sign up", "newsletter", "follow us", "share this", "share on", "stay up-to-date", "stay up to date",
    "stay informed", "关注我们", "点击关注", "公众号", "长按识别", "点击进入", "二维码", "扫一扫", "客户端", "app下载",
    "下载app",
)

_TERMINAL = set(".!?。！？…;；:：\"'”’)）」』")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SEPARATORS = re.compile(r"\s*(?:[|>»›·•]|&gt;)\s*")
_COUNTER = re.compile(r"[\s(（\[【]*\d*[)）\]】]*$")  # "评论（0）", "推荐0"
_CREDIT = re.compile(r"^\(?\s*(?:photo|image|picture|graphic)?\s*(?:credits?|courtesy)\s*:")
_MEDIA_LABEL = re.compile(r"^\(?\s*(?:photo|image|picture|图片来源|图片|图)\s*[:：]")
# "Back to the home page >>", "click for more >>" glued to the end of a paragraph
_TRAILING_LINK = re.compile(r"(?:返回[^\s，。！？]{0,8}首页|点击进入[^\s，。！？]{0,12}|查看更多|阅读全文|更多精彩)\s*(?:>>|》|»|>)?\s*$")

LONG_LINE = 60  # words (CJK characters count one each); no rule fires on longer lines
FRAGMENT = 6  # the text's trailing lines this short, ending no sentence, are widget debris


class Line(NamedTuple):
    """A line as the rules see it: NFKC-folded, lower-cased, stripped, and its length in words."""

    text: str
    size: int

    @classmethod
    def of(cls, raw: str) -> "Line":
        text = unicodedata.normalize("NFKC", raw).strip().lower()
        return cls(text, units(text))


def units(text: str) -> int:
    """Length in words, counting each CJK character as a word (unspaced scripts have no spaces to count)."""
    cjk = len(_CJK.findall(text))
    return cjk + len(_CJK.sub(" ", text).split()) if cjk else len(text.split())


def ends_sentence(text: str) -> bool:
    return bool(text) and text[-1] in _TERMINAL


# -- line rules: True means "boilerplate" ----------------------------------------------------------------
def table_artifact(line: Line) -> bool:
    """Only `|` (and spaces): the remains of a layout table, as FineWeb strips them."""
    return bool(line.text) and not line.text.strip("| \t")


def navigation(line: Line) -> bool:
    """Breadcrumbs, menus and previous/next links: navigation phrases on a short line, or a run of short
    items joined by separators (`a | b | c`, `首页 > 新闻 > 正文`)."""
    if line.size <= 40 and any(p in line.text for p in NAV_PHRASES):
        return True
    if ends_sentence(line.text):
        return False
    parts = [p for p in _SEPARATORS.split(line.text) if p]
    if len(parts) < 3 and _CJK.search(line.text):
        parts = line.text.split()  # Chinese menus are often items separated by spaces alone
    # menus name places; rows of a table (`gsoc-2018 | 3.3 GB/s`) carry numbers
    return len(parts) >= 3 and all(units(p) <= 4 for p in parts) and not any(ch.isdigit() for ch in line.text)


def footer(line: Line) -> bool:
    """Copyright, licence, registration and complaint-hotline lines."""
    return any(m in line.text for m in FOOTER_MARKS)


def ad_label(line: Line) -> bool:
    return line.text.rstrip(":：").strip() in AD_LABELS


def widget_label(line: Line) -> bool:
    """A button or counter on a line of its own: `收藏`, `评论（0）`, `Share`."""
    return len(line.text) <= 12 and _COUNTER.sub("", line.text).rstrip(":：+ ") in WIDGET_LABELS


def media_credit(line: Line) -> bool:
    """Image captions' credit lines: `(Credit: ...)`, `Photo: ...`, `图片来源：...`."""
    return line.size <= 20 and bool(_CREDIT.match(line.text) or _MEDIA_LABEL.match(line.text))


def prompt(line: Line) -> bool:
    """Subscribe, share, follow, QR-code and app-download prompts (short lines only)."""
    limit = 30 if _CJK.search(line.text) else 12
    return line.size <= limit and any(p in line.text for p in PROMPTS)


LINE_RULES: dict[str, Callable[[Line], bool]] = {
    "table_artifact": table_artifact,
    "navigation": navigation,
    "footer": footer,
    "ad_label": ad_label,
    "widget_label": widget_label,
    "media_credit": media_credit,
    "prompt": prompt,
}


def related_heading(line: Line) -> bool:
    return line.size <= 8 and any(h in line.text for h in RELATED_HEADINGS)


def end_marker(line: Line) -> bool:
    return line.size <= 20 and any(m in line.text for m in END_MARKERS)


_CELL_RUN = re.compile(r"(?:\|[ \t]*){2,}")  # empty cells: "| | |"


def strip_table_artifacts(text: str) -> str:
    """FineWeb's treatment of `|` table artifacts: lines made only of `|` go (a run of them becomes one
    paragraph break); within a line, runs of empty cells collapse to one separator and edge pipes go."""
    if "|" not in text:
        return text
    out = []
    for raw in text.split("\n"):
        if "|" in raw:
            if table_artifact(Line(raw.strip(), 0)):
                raw = ""
            else:
                raw = _CELL_RUN.sub("| ", raw).strip().strip("|").strip()
        out.append(raw)
    return _join(out)


def clean_lines(text: str, rules: Optional[Iterable[str]] = None, tail: bool = True) -> str:
    """Drop every line that a rule calls boilerplate, trailing "more" links, and the page's tail.

    With `tail`, a "related" heading or an end-of-article marker (`责任编辑`) in the second half of the text
    cuts it there, and trailing fragments (short lines that end no sentence) go. A related heading earlier
    in the text takes only the short headline lines after it.
    """
    predicates = [LINE_RULES[name] for name in (rules if rules is not None else LINE_RULES)]
    lines = text.split("\n")
    total = sum(len(raw) for raw in lines) or 1
    kept: list[tuple[str, Optional[Line]]] = []  # (raw line, its Line); blank lines kept as paragraph breaks
    seen = 0
    in_related = False
    for raw in lines:
        seen += len(raw)
        if not raw.strip():
            kept.append(("", None))
            continue
        line = Line.of(raw)
        if line.size > LONG_LINE:
            in_related = False
            kept.append((_TRAILING_LINK.sub("", raw), line))
            continue
        if tail and (related_heading(line) or end_marker(line)):
            if seen > total / 2:
                break
            in_related = related_heading(line)
            continue
        if in_related:
            if line.size <= 20 and not ends_sentence(line.text):
                continue  # a headline of the related list
            in_related = False
        if any(rule(line) for rule in predicates):
            continue
        raw = _TRAILING_LINK.sub("", raw)
        if raw.strip():
            kept.append((raw, line))
    if tail:
        while kept and (kept[-1][1] is None or (kept[-1][1].size <= FRAGMENT and not ends_sentence(kept[-1][1].text))):
            kept.pop()
    return _join(raw for raw, _ in kept)


def _join(lines: Iterable[str]) -> str:
    """Lines back into text: blank runs collapsed to one blank line, no blank lines at either end."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
