"""Knowledge layer: Notion and local knowledge files merged into metadata.json."""
