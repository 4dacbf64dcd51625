"""Deploys Argo CD made: what told medic of one, and how a deploy is watched and judged."""
