"""BI: the published read-only copy of the marts, and the marketer's dashboard built from it."""
