// placeholder until the page bundle lands
