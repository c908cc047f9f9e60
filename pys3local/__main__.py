from pys3local.cli import main

main()
