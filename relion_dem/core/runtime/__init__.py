"""What RELION runs for each reconstruction, and how a regularized refinement is launched."""
