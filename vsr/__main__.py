from vsr.cli import main

main()
