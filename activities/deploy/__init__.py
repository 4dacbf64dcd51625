"""The deploy watch: what a deploy changed, its workloads' signals, the verdict recorded."""
