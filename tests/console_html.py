"""Reading the console's pages in tests: elements by id, name, class or tag (stdlib HTML parser)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        # Cells and inline elements count as separated: "<td>a</td><td>b</td>" reads "a b".
        return " ".join(" ".join(self.parts).split())

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()

    @property
    def disabled(self) -> bool:
        return "disabled" in self.attrs


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)


class Page:
    """An HTML page's elements, in document order."""

    def __init__(self, html: str) -> None:
        parser = _Parser()
        parser.feed(html)
        parser.close()
        self.html = html
        self.elements = parser.elements

    def find(
        self,
        tag: str | None = None,
        *,
        id: str | None = None,
        name: str | None = None,
        cls: str | None = None,
    ) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag)
            and (id is None or e.id == id)
            and (name is None or e.attrs.get("name") == name)
            and (cls is None or e.has_class(cls))
        ]

    def by_id(self, id: str) -> Element | None:
        found = self.find(id=id)
        return found[0] if found else None

    def one(self, tag: str | None = None, **kwargs: str) -> Element:
        found = self.find(tag, **kwargs)
        assert len(found) == 1, f"expected one {tag or 'element'} {kwargs}, found {len(found)}"
        return found[0]

    def value(self, name: str) -> str:
        """The value of the (first) input named `name`."""
        found = self.find("input", name=name)
        assert found, f"no input named {name}"
        return found[0].attrs.get("value") or ""

    def text(self, id: str) -> str:
        element = self.by_id(id)
        assert element is not None, f"no element #{id}"
        return element.text

    def ids(self) -> set[str]:
        return {e.id for e in self.elements if e.id}
