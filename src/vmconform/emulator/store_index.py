"""The store's buckets: one kind's objects, kept in list order, with secondary indexes.

A :class:`Bucket` holds a kind's objects by ``(namespace, name)`` and keeps, per namespace, the
names sorted, so listing (all namespaces or one) walks the objects in ``(namespace, name)`` order
without sorting the whole bucket, and a namespace's objects are found without touching the others.

An :class:`Index` maps values computed from an object (e.g. an owner's UID, a label's value, a
pod's node) to the keys of the objects that have them — like client-go's indexers. The bucket
updates every index on each write, so a lookup costs what it finds, not what is stored.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Callable, Hashable, Iterable

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name)
IndexFn = Callable[[Obj], Iterable[Hashable]]

_NO_KEYS: frozenset[ObjKey] = frozenset()


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class Index:
    """``value → keys`` for the values ``fn`` gives each object (unhashable values are left out)."""

    def __init__(self, fn: IndexFn) -> None:
        self.fn = fn
        self._keys: dict[Hashable, set[ObjKey]] = {}
        self._values: dict[ObjKey, tuple[Hashable, ...]] = {}
        self.generation = 0  # moves whenever an object gains or loses a value

    def put(self, key: ObjKey, obj: Obj) -> None:
        values = tuple(dict.fromkeys(v for v in self.fn(obj) if _hashable(v)))
        old = self._values.get(key, ())
        if values == old:
            return
        self.generation += 1
        for value in old:
            if value not in values:
                self._discard(value, key)
        for value in values:
            if value not in old:
                self._keys.setdefault(value, set()).add(key)
        if values:
            self._values[key] = values
        else:
            self._values.pop(key, None)

    def remove(self, key: ObjKey) -> None:
        values = self._values.pop(key, ())
        if values:
            self.generation += 1
        for value in values:
            self._discard(value, key)

    def _discard(self, value: Hashable, key: ObjKey) -> None:
        keys = self._keys.get(value)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[value]

    def keys(self, value: Hashable) -> set[ObjKey] | frozenset[ObjKey]:
        """The keys of the objects with ``value`` (do not change the answer)."""
        if not _hashable(value):
            return _NO_KEYS
        return self._keys.get(value, _NO_KEYS)

    def values_of(self, key: ObjKey) -> tuple[Hashable, ...]:
        return self._values.get(key, ())


class Bucket:
    """One kind's objects: ``objects[(namespace, name)]``, names sorted per namespace, indexes."""

    def __init__(self) -> None:
        self.objects: dict[ObjKey, Obj] = {}
        self._names: dict[str, list[str]] = {}  # namespace → its objects' names, sorted
        self._namespaces: list[str] = []  # namespaces holding objects, sorted
        self.indexes: dict[str, Index] = {}
        self.version = 0  # moves on every write

    def __len__(self) -> int:
        return len(self.objects)

    def add_index(self, name: str, fn: IndexFn) -> None:
        """Register an index (a second registration under the same name is ignored)."""
        if name in self.indexes:
            return
        index = self.indexes[name] = Index(fn)
        for key, obj in self.objects.items():
            index.put(key, obj)

    def put(self, key: ObjKey, obj: Obj) -> None:
        self.version += 1
        if key not in self.objects:
            ns, name = key
            names = self._names.get(ns)
            if names is None:
                names = self._names[ns] = []
                insort(self._namespaces, ns)
            insort(names, name)
        self.objects[key] = obj
        for index in self.indexes.values():
            index.put(key, obj)

    def remove(self, key: ObjKey) -> Obj | None:
        obj = self.objects.pop(key, None)
        if obj is None:
            return None
        self.version += 1
        ns, name = key
        names = self._names[ns]
        del names[bisect_left(names, name)]
        if not names:
            del self._names[ns]
            del self._namespaces[bisect_left(self._namespaces, ns)]
        for index in self.indexes.values():
            index.remove(key)
        return obj

    def has_namespace(self, ns: str) -> bool:
        return ns in self._names

    def sorted_values(self, namespace: str | None = None) -> list[Obj]:
        objects = self.objects
        if namespace:
            return [objects[(namespace, n)] for n in self._names.get(namespace, ())]
        return [objects[(ns, n)] for ns in self._namespaces for n in self._names[ns]]

    def indexed(self, index: str, value: Hashable) -> list[Obj]:
        """The objects with ``value`` in ``index``, in ``(namespace, name)`` order."""
        objects = self.objects
        return [objects[k] for k in sorted(self.indexes[index].keys(value))]

    def indexed_any(self, index: str, values: Iterable[Hashable]) -> list[Obj]:
        """The objects with any of ``values`` in ``index``, each once, in ``(namespace, name)`` order."""
        idx = self.indexes[index]
        keys: set[ObjKey] = set()
        for value in values:
            keys.update(idx.keys(value))
        objects = self.objects
        return [objects[k] for k in sorted(keys)]

    def check(self) -> None:
        """Assert that the sorted names and every index agree with the objects (tests)."""
        want: dict[str, list[str]] = {}
        for ns, name in sorted(self.objects):
            want.setdefault(ns, []).append(name)
        assert self._names == want, "sorted names out of step with the objects"
        assert self._namespaces == sorted(want), "namespaces out of step with the objects"
        for label, index in self.indexes.items():
            fresh = Index(index.fn)
            for key, obj in self.objects.items():
                fresh.put(key, obj)
            assert fresh._keys == index._keys, f"index {label!r} out of step with the objects"
            assert {k: set(v) for k, v in fresh._values.items()} == {k: set(v) for k, v in index._values.items()}, \
                f"index {label!r} out of step with the objects"
