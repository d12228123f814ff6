"""nbpipe.server"""
