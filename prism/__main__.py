from prism.cli import main

main()
