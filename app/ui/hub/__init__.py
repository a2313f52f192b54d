"""The Hub pages: Discover, My Models, Downloads, and Serve with vLLM."""
