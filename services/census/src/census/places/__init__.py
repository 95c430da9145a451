"""Places: complex (小区) → building (楼幢) → unit (单元) → dwelling (户)."""
